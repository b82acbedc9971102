from ashby_sync.cli import main

main()
