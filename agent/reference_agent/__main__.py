"""`python -m reference_agent run …`"""

import sys

from reference_agent.cli import main

sys.exit(main())
