from segkit.cli import main

main()
