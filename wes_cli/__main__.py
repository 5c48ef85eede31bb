import sys

from wes_cli.main import main

sys.exit(main())
