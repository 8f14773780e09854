"""Stand-in for `google.colab.output`, which jax's Colab debugger imports."""
