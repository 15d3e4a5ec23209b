int dti_hub_placeholder;
