from sigtrace.cli import main

main()
