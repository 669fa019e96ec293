"""Old import path of notebook 004's 5-class data file (kept for code written against it, such
as examples/004-fashion-5-classes.ipynb): the module is mnistlab/data/fashion5.py, below the
layers that load a recipe's data. Both names are the same module object, so a value set on one
is seen through the other."""
import sys

from mnistlab.data import fashion5 as _module

sys.modules[__name__] = _module
