# What the installed program comes with (man page, shell completions, example configs, systemd
# unit) and how cpack turns an install into a .deb.
