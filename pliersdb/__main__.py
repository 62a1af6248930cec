from pliersdb.cli import main

raise SystemExit(main())
