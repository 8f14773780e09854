"""A stand-in for Colab's `google.colab` package (tools/colab_rehearsal.py): its presence is how the setup cell
knows it runs in Colab. Nothing in the book calls into it."""
