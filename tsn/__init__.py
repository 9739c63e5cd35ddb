"""Temporal Segment Networks (Wang et al., ECCV 2016) trained and evaluated from flowkit stores."""
