"""Presentation: turning the data that selectors return into what people and files see.

- ``charts``: server-side SVG charts (generic line, bar, stacked and horizontal bar charts);
- ``health``: the model-health page's charts and table rows;
- ``adoption``: the adoption dashboard's tiles, charts and table rows;
- ``explanations``: a case's explanation as a sentence and a bar chart, its scores and input;
- ``exports``: CSV and JSON Lines rows of the downloads (adoption, labels, audit log);
- ``params``: parsing request parameters (periods, dates, bands, page filters, cursors);
- ``review``: what a reviewer just saved, in words; ``audit``: the audit log table's cells.

Pure functions over plain values, dataclasses and model instances already loaded: nothing
here queries the database or changes anything, and nothing below the views imports it
(see the import-linter contracts in pyproject.toml).
"""
