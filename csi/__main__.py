import sys

from csi.cli.main import main

sys.exit(main())
