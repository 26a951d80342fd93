"""The Slack bot for support staff: the pipeline's answers in threads, with sources and feedback.

The bot is a surface like the widget: it never retrieves, cites or hedges on its own, so a
question gets the same citations in Slack as on `/v1/answer`. `app.py` builds the Bolt app and
its listeners, `blocks.py` renders an Answer as Block Kit, `http.py` serves `/slack/events` in the
FastAPI app, `socket.py` runs Socket Mode for `fibro slack`.
"""
