from laurel.cli import main

main()
