# --- piece learning_rate (tools/cells/pieces/learning_rate.py) ---

_LEARNING_RATE = 0.1  # the LEARNING_RATE of the training exercises in chapters 4, 5 and 6
