"""The gallery: trained models shipped with the app, each a folder under models/ holding a
card (card.json) and its weights (.npz or .safetensors). See cards.py and docs/gallery.md."""

from .cards import Card, GalleryError, all_cards, get_card, summary

__all__ = ["Card", "GalleryError", "all_cards", "get_card", "summary"]
