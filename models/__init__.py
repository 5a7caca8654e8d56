"""Where models come from: the built-in ones, files the user opens (later: downloads and
remote servers), named by a `ModelRef`, and opened as a backend in one place. No Qt."""
