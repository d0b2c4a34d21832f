from include.patternalarm.cli import main

main()
