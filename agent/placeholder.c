int dti_agent_placeholder;
