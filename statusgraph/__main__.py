from statusgraph.cli import main

raise SystemExit(main())
