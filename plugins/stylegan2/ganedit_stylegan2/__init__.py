"""ganedit first-party plugin: stylegan2."""
