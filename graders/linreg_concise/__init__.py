"""Concise linear regression (d2l 3.3): load_array, linear_net, train_concise and the section's
exercises; its source is ``solutions/linreg_concise/``. Its hints and variant theory are 3.2's
(``linreg_scratch``), with nn.MSELoss's gradient twice the book's squared loss."""
