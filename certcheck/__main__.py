"""python -m certcheck"""

from certcheck.cli import main

main()
