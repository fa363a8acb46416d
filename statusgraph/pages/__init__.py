"""The public pages in HTML (DESIGN §13): for now, the subscriber links' pages."""
