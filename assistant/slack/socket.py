"""Socket Mode (`fibro slack`): the same bot for workspaces that cannot reach a public URL.

Slack pushes events over a WebSocket opened with the app-level token (`FIBRO_SLACK_APP_TOKEN`,
`xapp-`), so no signing secret or inbound HTTP is needed.
"""

from __future__ import annotations

from assistant.errors import InputError
from assistant.settings import Settings


def run_socket_mode(settings: Settings) -> None:
    """Load the pipeline and serve Slack over Socket Mode until interrupted."""
    app_token = settings.slack_app_token
    if not (settings.slack_bot_token and app_token):
        raise InputError("Socket Mode needs FIBRO_SLACK_BOT_TOKEN and FIBRO_SLACK_APP_TOKEN")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from assistant.observe import feedback_hooks_for
    from assistant.pipeline import Pipeline
    from assistant.slack.app import SlackBot, build_app

    # Socket Mode messages are not signed; the app-level token authenticates the connection.
    settings = settings.model_copy(update={"slack_signing_secret": None})
    bot = SlackBot(settings, Pipeline.from_settings(settings), None, feedback_hooks_for(settings))
    app = build_app(bot)
    SocketModeHandler(app, app_token.get_secret_value()).start()
