"""Box geometry shared by the model, the data pipeline and the deployment:
``box_iou.py`` (the one IoU)."""
