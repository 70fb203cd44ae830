import sys

from molecule_local.cli import main

sys.exit(main())
