"""The networks: the 2-D and 3-D U-Nets and choosing one for a configuration."""
