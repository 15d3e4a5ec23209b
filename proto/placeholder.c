int dti_proto_placeholder;
