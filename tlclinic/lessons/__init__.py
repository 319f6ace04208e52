"""One module per lesson: the calls its notebook makes, so the notebook reads like prose."""
