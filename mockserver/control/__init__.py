"""The control plane: the HTTP control API, its remote client, metrics and the file watcher."""
