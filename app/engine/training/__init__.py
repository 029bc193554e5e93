"""Training: the trainer, optimisers, the classroom tasks and the character LM corpus.
May import `..params` and `..cells`; the service drives it off its event loop."""
