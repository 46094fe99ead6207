"""Training one block of rows at a time, for data larger than one pod's memory.

A snapshot's rows are cut into blocks of fixed row ranges (`plan`), whatever files they are
stored in. Each row's train or test side comes from a hash of its row number and the seed
(`hashed_split`), so it depends on neither the blocks nor the workers. One parallel pass
gathers mergeable statistics (`stats`), from which the preprocessing is set, fitted
(`fitted_preprocessing`); then an estimator that learns incrementally (partial_fit) is fitted
block after block, in a seeded order, for a number of epochs, and a last parallel pass scores
the held-out rows (`steps`, `orchestrate`).

Every step is a function of its block alone, so an engine can run it on any worker: the same
data, seed and block size give the same model bytes whether one worker or many ran them.
"""
