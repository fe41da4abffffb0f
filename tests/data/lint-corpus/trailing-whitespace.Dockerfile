# corpus-expect: SP204 SP101 SP100   
FROM alpine:3.19   
RUN apk add curl   	
WORKDIR /app	
COPY run.sh /app/run.sh  
   
ENTRYPOINT ["/app/run.sh"]   
