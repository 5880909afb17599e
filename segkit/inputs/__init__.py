"""What a run reads: images, detection files and their readers, box spaces, model answers."""
