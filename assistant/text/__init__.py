"""User text in one normal form, and the medicine vocabulary the safety layers share.

Used by triage, by the injection layer and by the dose check, so none of them depends on another
to read a message.
"""
