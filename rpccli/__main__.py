from rpccli.cli import main

raise SystemExit(main())
