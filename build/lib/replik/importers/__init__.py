"""Importers: WordPress (WXR), Disqus and Replik's own JSON export."""
