"""The client's side: a link per administration, then one measure per screen."""
