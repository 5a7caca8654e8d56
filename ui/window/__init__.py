"""The main window's controllers, one job each: the model, the turns of the chat on screen,
the conversation list, the knowledge bases a conversation answers from, the concept panel's
wiring and the settings. ui/main_window.py builds the frame and connects them."""
