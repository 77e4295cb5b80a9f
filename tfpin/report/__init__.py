"""Step 5, what a run says: the typed event stream (events.py) and its views: the console (console.py, fed by
live.py while cells run) and the journal, the report files (journal.py: build.py, with recommend.py and census.py;
written as markdown.py and html.py, escaping through mdtext.py)."""
