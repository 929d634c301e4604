"""``python -m tradeforge.live STATE_DIR [SPEC_JSON]``: run or resume a dry-run replay."""

import sys

from tradeforge.live.runner import main

sys.exit(main())
