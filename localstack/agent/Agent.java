// A do-nothing Java agent in place of LocalStack's ddb-local-loader (which only lifts
// a DynamoDB Local limit on global secondary indexes and would be fetched from GitHub).
// LocalStack starts DynamoDB Local with `-javaagent:.../ddb-local-loader-0.1.jar`;
// setup.sh builds this into that file.
public final class Agent {
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
