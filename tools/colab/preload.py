# IPython startup file of the Colab rehearsal: Colab's kernels have imported numpy and pandas before the first cell
# runs (googlecolab/colabtools #298), so an install that upgrades numpy on disk leaves the old one loaded.
import numpy  # noqa: F401
import pandas  # noqa: F401
