"""Linear regression from scratch (d2l 3.2): synthetic_data, data_iter, linreg, squared_loss, sgd,
and the book's training loop with them; its source is ``solutions/linreg_scratch/``."""
