"""`python -m reference_agent run …` / `send-file PATH`"""

import sys

from reference_agent.cli import main

sys.exit(main())
