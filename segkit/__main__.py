import sys

from segkit.cli import main

sys.exit(main())
