"""The container image and devcontainer (inv docker.*): Docker or Podman engines, and the files' lint."""
