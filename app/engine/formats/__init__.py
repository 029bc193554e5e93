"""Weight files (safetensors, npz, .pt, Keras .keras/.weights.h5) and vocabularies, read as data.
May import `..params` and `..cells`; never the web, and `cells` never imports this package."""
