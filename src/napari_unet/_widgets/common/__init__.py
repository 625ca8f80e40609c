"""What both docks use: layers, workers, sections, the model panel, prediction into layers,
export, the start choice and the reader."""
