"""``python -m mmapi``: the same as the ``mmapi`` console script."""

from mmapi.cli import main

raise SystemExit(main())
