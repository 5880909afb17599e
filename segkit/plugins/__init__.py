"""The plugin machinery: hook specs, the host that loads plugins, the segmenter and detector contracts,
option resolution, and the built-in mock backends. Plugins themselves import from ``segkit`` (the plugin
API, segkit/plugin_api.py), not from here."""


def __getattr__(name: str):
    """``from segkit.plugins import get_host`` (segkit 0.1's module) says where the name is now."""
    from segkit.moved_modules import OLD_PLUGINS_NAMES, moved_name_error

    if name in OLD_PLUGINS_NAMES:
        raise moved_name_error("segkit.plugins", name, "segkit.plugins.host")
    raise AttributeError(name)
